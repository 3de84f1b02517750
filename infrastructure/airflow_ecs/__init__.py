"""Apache Airflow 3 on ECS Fargate as an AWS CDK app: one construct per concern."""
