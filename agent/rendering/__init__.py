"""Render what follows from a deployment plan: Kubernetes manifests and alert rules, the GitHub Actions workflow, the runbook."""
