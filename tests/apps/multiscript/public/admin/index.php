<?php
/** The admin area's directory index, reached as /admin/ through the web server's index rule. */

require __DIR__ . '/../_common.php';

page('Admin', "<h1>Admin</h1>\n<p id=\"script\">" . h($_SERVER['SCRIPT_NAME']) . "</p>\n"
    . '<p id="uri">' . h($_SERVER['REQUEST_URI']) . '</p>');
