<?php
// Sends a header value with a control byte (\x01): PHP allows it, an HTTP server must not send it.
header("X-Odd: a\x01b");
header('Content-Type: text/plain');
echo "odd\n";
