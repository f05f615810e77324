import sys

from scops.cli import main

sys.exit(main())
