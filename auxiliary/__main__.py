import sys

from auxiliary.faces.cli import main

sys.exit(main())
