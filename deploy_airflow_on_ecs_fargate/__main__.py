import sys

from deploy_airflow_on_ecs_fargate.entrypoint import main

sys.exit(main())
