"""The production image with podman, with no registry and no Docker engine (decision 0021).

One concern per module; build/podman_image.py is the command line that runs them in order.

- paths ......... where the project's files are and where podman keeps its state
- commands ...... run a command; a failed check is one line (SmokeFailure)
- podman ........ podman and its helpers installed from Debian, configured for the project
- base_standin .. the Containerfile's base when it can be had, else a debootstrap stand-in
- image_build ... podman build, the host's CA mounted for the dependency step only
- lock, layer_scan, smoke ... the checks of the built image
- compose_pod, postgres, stack ... docker-compose.yml's services run in one podman pod

Standard library only (build and smoke run before the project's venv exists); the stack needs
the venv's docker-compose, moto and PostgreSQL binaries, and imports the project's REST client.
"""
