"""Online benefit eligibility certification (线上待遇资格认证): due lists, certifications, delegations."""
