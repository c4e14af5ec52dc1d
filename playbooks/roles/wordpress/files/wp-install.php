<?php
// govhost (cms): install WordPress for one site without a browser, run as the site's own user.
// Input from the environment (never the command line); prints one JSON line and never a secret.
$env = function ($k) { return (string) getenv($k); };
$_SERVER['WORDPRESS_CONFIG'] = $env('GOVHOST_WP_CONFIG');
$_SERVER['HTTP_HOST'] = $_SERVER['SERVER_NAME'] = $env('GOVHOST_WP_HOST');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
if (strpos($env('GOVHOST_WP_URL'), 'https://') === 0) {
    $_SERVER['HTTPS'] = 'on';
}
define('WP_INSTALLING', true);

// No welcome mail: the administrator got the one-time password from the panel.
function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password) {
}

try {
    require '/usr/share/wordpress/wp-load.php';
    require_once ABSPATH . 'wp-admin/includes/upgrade.php';
    if (is_blog_installed()) {
        // A second run of this instance's install (a retried job) finds its own site: its
        // administrator with the one-time password. Anything else is a WordPress left in the
        // database from before (another site, or an instance the panel no longer knows): taking it
        // over would show that site's content and hand out a password that does not log in.
        $admin = get_user_by('login', $env('GOVHOST_WP_ADMIN'));
        if (!$admin || !wp_check_password($env('GOVHOST_WP_PASSWORD'), $admin->user_pass, $admin->ID)) {
            echo json_encode(['error' => 'the database ' . DB_NAME . ' already holds another WordPress site '
                . '(left from before): it was not taken over; drop it on the database host, then file a new request']), "\n";
            exit(1);
        }
        echo json_encode(['installed' => false, 'version' => $GLOBALS['wp_version']]), "\n";
        exit(0);
    }
    $language = $env('GOVHOST_WP_LANGUAGE');
    if ($language !== '') {
        // The catalogue's pack, unpacked just before (nothing is fetched from wordpress.org): its
        // strings for the install itself (the first post, page and category), then WPLANG = it.
        if (!is_readable(WP_LANG_DIR . "/$language.mo")) {
            echo json_encode(['error' => "the language pack $language is not in " . WP_LANG_DIR]), "\n";
            exit(1);
        }
        load_default_textdomain($language);
        $GLOBALS['wp_locale'] = new WP_Locale();
    }
    $result = wp_install(
        $env('GOVHOST_WP_TITLE'),
        $env('GOVHOST_WP_ADMIN'),
        $env('GOVHOST_WP_EMAIL'),
        true,
        '',
        wp_slash($env('GOVHOST_WP_PASSWORD')),
        $language
    );
    if (is_wp_error($result)) {
        echo json_encode(['error' => $result->get_error_message()]), "\n";
        exit(1);
    }
    // Pretty links: /wp-json/ (the REST API apps use) and readable addresses; nginx sends them to index.php.
    global $wp_rewrite;
    $wp_rewrite->set_permalink_structure('/%postname%/');
    $wp_rewrite->flush_rules(false);
    echo json_encode(['installed' => true, 'version' => $GLOBALS['wp_version']]), "\n";
} catch (Throwable $e) {
    echo json_encode(['error' => get_class($e) . ': ' . $e->getMessage()]), "\n";
    exit(1);
}
