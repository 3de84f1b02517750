# The AWS CDK app (infrastructure/). Synth needs only the Python environment and no AWS credentials;
# deploy/diff/destroy use the CDK CLI pinned in infrastructure/package-lock.json.
PROFILE ?= dev
SETTINGS ?=
IMAGE_TAG ?=
INFRA := infrastructure
CDK := $(INFRA)/node_modules/.bin/cdk
# jsii runs on the machine's Node 20 and would print an end-of-life banner on every run.
INFRA_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 AIRFLOW_ECS_PROFILE=$(PROFILE) AIRFLOW_ECS_SETTINGS="$(SETTINGS)"

synth: install ## write the CloudFormation templates to infrastructure/cdk.out offline (PROFILE=dev|prod SETTINGS="egress=private ...")
	@rm -rf $(INFRA)/cdk.out
	@cd $(INFRA) && $(INFRA_ENV) ../$(VENV_PY) app.py
	@ls $(INFRA)/cdk.out/*.template.json

test-infra: install ## run the infrastructure tests (assertions, route checks, cfn-lint, cdk-nag)
	@$(VENV_PY) -m pytest tests/infrastructure $(PYTEST_ARGS)

lint-templates: synth ## cfn-lint the templates of `make synth` (accepted warnings and reasons in infrastructure/.cfnlintrc.yaml)
	@$(VENV)/bin/cfn-lint --config-file $(INFRA)/.cfnlintrc.yaml -- $(INFRA)/cdk.out/*.template.json

$(CDK): $(INFRA)/package.json $(INFRA)/package-lock.json
	@cd $(INFRA) && npm ci --no-audit --no-fund --silent
	@touch $@

cdk-cli: $(CDK) ## install the pinned AWS CDK CLI into infrastructure/node_modules

deploy-registry: install $(CDK) ## deploy the ECR repository stack first (needs AWS credentials)
	@cd $(INFRA) && $(INFRA_ENV) ../$(CDK) deploy --no-notices '*-registry'

# airflow-ecs deploy: bootstrap, registry, image build and push, stack (the tag stack-scoped), rollout.
deploy: install $(CDK) ## build, push and deploy the current commit (IMAGE_TAG=<tag> deploys an image already pushed; DEPLOY_ARGS="--yes"; needs AWS credentials)
	@$(AIRFLOW_ECS) deploy --profile "$(PROFILE)" $(if $(strip $(SETTINGS)),--settings "$(SETTINGS)") $(if $(IMAGE_TAG),--image-tag "$(IMAGE_TAG)") $(DEPLOY_ARGS)

destroy: install $(CDK) ## delete the deployment's stacks after you type the stack's name; says what is kept (needs AWS credentials)
	@$(AIRFLOW_ECS) destroy --profile "$(PROFILE)" $(if $(strip $(SETTINGS)),--settings "$(SETTINGS)") $(DESTROY_ARGS)

diff: install $(CDK) ## show what a deploy would change (needs AWS credentials)
	@cd $(INFRA) && $(INFRA_ENV) ../$(CDK) diff --no-notices --all

.PHONY: synth test-infra lint-templates cdk-cli deploy-registry deploy destroy diff
