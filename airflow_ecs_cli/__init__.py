"""`airflow-ecs`: the operator CLI of a deployment (deploy, one-off tasks, exec, scaling, status,
logs, the admin password) and of the local stack.

`cli.py` only parses arguments and formats results; every other module is a library that the
CLI, `scripts/run_task.py` and the tests import.
"""
