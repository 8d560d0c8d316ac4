"""``python -m crm_analysis`` runs the ``crm-analysis`` command line.

Example
-------
``python -m crm_analysis report --data data/sample --stores 001``
"""

import sys

from crm_analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
