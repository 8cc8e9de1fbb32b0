<?php
/** The logged-in user's page; without a session it redirects to the login form. */

require __DIR__ . '/_common.php';

start_session();
$user = current_user();
if ($user === null) {
    redirect('/login.php');
    return;
}
$avatar = $_SESSION['avatar'] ?? null;
$avatarText = $avatar === null ? 'no avatar yet' : 'avatar ' . h($avatar['name']) . ' (' . $avatar['size'] . ' bytes)';
page('Profile', '<h1>Hello, ' . h($user) . "</h1>\n<p id=\"avatar\">" . $avatarText . "</p>\n"
    . '<p><a href="/logout.php">Log out</a></p>');
