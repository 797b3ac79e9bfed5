"""Why a login step was refused; each its own code so the app and the site can tell the holder what to do."""

from __future__ import annotations

from essc.kit.errors import Conflict, Forbidden, Gone, NotFound


class LoginCodeUnknown(NotFound):
    code = "login_code_unknown"
    title = "No such login code (or it belongs to another terminal)"


class LoginCodeExpired(Gone):
    code = "login_code_expired"
    title = "The login code expired; reload the login page for a new one"


class LoginCodeAlreadyScanned(Conflict):
    code = "login_code_already_scanned"
    title = "The login code was already scanned by another holder or in another app"


class LoginCodeNotScanned(Conflict):
    code = "login_code_not_scanned"
    title = "Scan the login code before confirming or denying it"


class LoginCodeAnswered(Conflict):
    code = "login_code_answered"
    title = "The login was already confirmed or denied"


class TerminalCannotLogin(Forbidden):
    code = "terminal_kind_not_for_login"
    title = "Only web and kiosk terminals show login codes"
