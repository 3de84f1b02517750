# Container images and docker compose (issue 4). Included by the top Makefile.
# podman keeps its images under .cache/containers/ (gitignored). build/podman_image.py is the command
# line; build/images/ holds its steps. build and smoke need only the system python3 (no venv).

IMAGE ?= localhost/deploy-airflow-on-ecs-fargate:dev
REQUIREMENTS_TXT := build/requirements/requirements.txt
# The runtime dependencies only: no dependency group (local, infra, cli, test) enters an image.
UV_EXPORT := export --frozen --no-default-groups --no-emit-project --format requirements-txt

requirements: $(UV) ## regenerate build/requirements/requirements.txt from uv.lock
	@$(UV) $(UV_EXPORT) > $(REQUIREMENTS_TXT).tmp
	@mv $(REQUIREMENTS_TXT).tmp $(REQUIREMENTS_TXT)
	@echo "$(REQUIREMENTS_TXT): $$(grep -c '^[a-z0-9]' $(REQUIREMENTS_TXT)) pinned packages"

image: ## build the production image with podman (IMAGE=name:tag)
	@$(PYTHON) build/podman_image.py build --image $(IMAGE)

# IMAGE_ARM64=auto (default): also the arm64 image, checked under qemu when this machine runs arm64
# binaries (qemu-user-static); yes: fail when it cannot; no: amd64 only.
image-smoke: ## build the production image (amd64, and arm64 under qemu when possible), check each, list both in one manifest
	@$(PYTHON) build/podman_image.py smoke --image $(IMAGE) $(IMAGE_SMOKE_ARGS)

compose-smoke: install ## image-smoke, then docker-compose.yml's services in a podman pod (PostgreSQL 18), one DAG run
	@$(PYTHON) build/podman_image.py stack --image $(IMAGE) $(IMAGE_SMOKE_ARGS)

compose-check: install ## validate docker-compose.yml (no Docker engine needed)
	@$(VENV)/bin/docker-compose --file docker-compose.yml config --quiet && echo "docker-compose.yml is valid"

lint-images: install ## hadolint both Containerfiles
	@$(VENV)/bin/hadolint build/prod/Containerfile build/dev/Containerfile && echo "Containerfiles: hadolint clean"

.PHONY: requirements image image-smoke compose-smoke compose-check lint-images
