"""kubectl-nsprobe: the kubectl plugin that reads PodProbe/NodeProbe objects; entry point is cli.main."""

import nsprobe

__version__ = nsprobe.__version__
