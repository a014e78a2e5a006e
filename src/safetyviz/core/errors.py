"""The one exception type for errors a user can cause (bad file, flag, county, catalog).

The CLI turns it into one line on stderr and exit code 2; nothing else is caught there, so a
programming error still shows its traceback.
"""


class UserError(Exception):
    """An error in the user's input; the message names the file, row and column if any."""
