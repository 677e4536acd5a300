"""Pure parsers of kernel text (/proc, cgroupfs) into frozen dataclasses; called by probe.host and tests."""
