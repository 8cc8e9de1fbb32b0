<?php
/** A redirect made only with a Location header: PHP turns it into a 302. */

header('Location: /index.php?from=redirect');
