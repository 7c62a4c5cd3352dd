from policyengine.cli.main import entry

entry()
