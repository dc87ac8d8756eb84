import sys

from servers.dns.service import main

sys.exit(main())
