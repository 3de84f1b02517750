from airflow_ecs_cli.cli import main

main()
