"""Worker autoscaling: the policy simulator (`airflow-ecs autoscaling simulate`) and its traces."""
