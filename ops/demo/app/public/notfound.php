<?php
/** A 404 produced by PHP itself, with an HTML body. */

http_response_code(404);
header('Content-Type: text/html; charset=utf-8');
echo "<!doctype html>\n<html><head><title>Not found</title></head>\n",
    "<body><h1>Not found</h1><p>PHP says this page does not exist.</p></body></html>\n";
