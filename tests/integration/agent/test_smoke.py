from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import check_invariants, describe, new_session, new_user, send, wait_for_done


def test_smoke(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run = send(client, auth, sid, "do it\n!shell echo hello\n!write a.txt hi there\n!read a.txt")
    events = wait_for_done(container, sid, run["run_id"])
    for e in events:
        print(e.seq, e.type, e.data)
    check_invariants(events, run["run_id"])
    print(describe(events))
