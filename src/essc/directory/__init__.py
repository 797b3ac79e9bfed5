"""The public list of authorised channel apps per province (授权渠道目录), as in force now."""
