"""devops-agent: the DevOps/SRE stage of a file-based multi-agent delivery pipeline."""

__version__ = "0.1.0"
