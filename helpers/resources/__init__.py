"""boto3 chores grouped by the AWS resource they change - the same calls work in the sandbox and in AWS.

    security_groups   authorize, revoke and find a group's rules
    network_acls      find, create, associate a NACL; write, replace and delete its entries
    ecs               a service's tasks and their host ports, a task's direct URL, the desired count

The notebook helpers (`helpers.course.Lab`, `lab_extras`, `nacl_tools`, `faults`, `hardening`) call
these instead of writing the boto3 calls each their own way.
"""
