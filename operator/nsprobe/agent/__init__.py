"""The node agent (the DaemonSet's program): scans the node and writes probe status; see runner and main."""
