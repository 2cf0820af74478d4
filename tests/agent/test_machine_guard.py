"""A standalone agent in the machine's own namespaces leaves the machine's
network alone: net_config needs ember-init or --machine-wide. The request
names an interface that does not exist, so even a broken guard changes
nothing here."""

EXIT_REMOTE = 125


def test_netconfig_refused_without_init(agent, ctl):
    r = ctl(agent.addr, "netconfig", "--interface", "ember-none0", "--address", "10.9.9.9/24")
    assert r.returncode == EXIT_REMOTE
    assert b"net_config refused" in r.stderr, r.stderr
    assert b"--machine-wide" in r.stderr, r.stderr


def test_netconfig_allowed_with_machine_wide(start_agent, ctl):
    agent = start_agent(args=["--machine-wide"])
    r = ctl(agent.addr, "netconfig", "--interface", "ember-none0", "--address", "10.9.9.9/24")
    assert r.returncode == EXIT_REMOTE
    assert b"refused" not in r.stderr, r.stderr
    assert b"ember-none0" in r.stderr, r.stderr
