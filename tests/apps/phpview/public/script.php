<?php
require __DIR__ . "/_echo.php";
