"""Local, Docker-free stand-ins for the deployed stack: template resolution, provisioning, routing."""
