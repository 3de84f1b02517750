"""Runtime package shipped in every Airflow container: configuration, Celery on SQS, logging,
the entrypoint (``python -m deploy_airflow_on_ecs_fargate``) and health checks."""
