"""Entry points run on a schedule (EventBridge in AWS, a thread in the local stack)."""
