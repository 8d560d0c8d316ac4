"""``python -m crm_analysis.synth``: the same as ``crm-analysis synth``.

Example
-------
    python -m crm_analysis.synth --stores 3 --seed 2026 --out data/sample
"""

import sys

from crm_analysis.synth.command import main

if __name__ == "__main__":
    sys.exit(main())
