"""``python -m meterhub.broker --port N``: run the embedded broker in this process."""

import sys

from meterhub.broker.server import main

sys.exit(main())
