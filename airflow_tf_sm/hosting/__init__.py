"""Hosting: deploy spec and quality gate, service, deploy/delete operators, endpoint sensor and trigger."""
