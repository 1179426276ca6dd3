"""One settings module per check case: each imports caseproj.base and changes what the case is about."""
