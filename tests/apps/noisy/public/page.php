<?php
// An HTML form. The meta CSRF token is bound to the session cookie (both legacy answers to a
// request carry the same one, so it cannot be learned); the form's token, the script nonce,
// the time and the timing change on every answer.
require __DIR__ . '/_noisy.php';
$session = $_COOKIE['sid'] ?? 'anonymous';
$qty = max(1, (int)($_GET['qty'] ?? 1));
header('Content-Type: text/html; charset=UTF-8');
?>
<!doctype html>
<html>
<head>
  <meta name="csrf-token" content="<?= hash_hmac('sha256', $session, 'corpus-secret') ?>">
  <script nonce="<?= bin2hex(random_bytes(16)) ?>">window.ready = true;</script>
</head>
<body>
  <form method="post" action="/subscribe.php">
    <label for="email">Email</label>
    <input type="hidden" name="_token" value="<?= bin2hex(random_bytes(16)) ?>">
    <input id="email" name="email" value="">
    <button>Subscribe</button>
  </form>
  <p>Total: <?= $qty * 10 ?> EUR</p>
  <p class="footer">Generated at <?= iso_now() ?> in <?= varying(1, 999) ?> ms</p>
</body>
</html>
