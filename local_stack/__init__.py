"""The Docker-free local stack (`make up`): embedded PostgreSQL, moto's SQS server and the five
Airflow components, each started through the same entrypoint as the containers."""
