<?php
// govhost (cms): one catalogue item on one site, as the site's user: activate it (GOVHOST_WP_ACTIVATE=1)
// and say what WordPress sees (version, active). Input from the environment; prints one JSON line.
$env = function ($k) { return (string) getenv($k); };
$_SERVER['WORDPRESS_CONFIG'] = $env('GOVHOST_WP_CONFIG');
$_SERVER['HTTP_HOST'] = $_SERVER['SERVER_NAME'] = $env('GOVHOST_WP_HOST');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
if (strpos($env('GOVHOST_WP_URL'), 'https://') === 0) {
    $_SERVER['HTTPS'] = 'on';
}
$say = function ($what, $code = 0) { echo json_encode($what), "\n"; exit($code); };

try {
    require '/usr/share/wordpress/wp-load.php';
    require_once ABSPATH . 'wp-admin/includes/plugin.php';
    $slug = $env('GOVHOST_WP_SLUG');
    $activate = $env('GOVHOST_WP_ACTIVATE') === '1';
    if ($env('GOVHOST_WP_KIND') === 'plugin') {
        $main = $env('GOVHOST_WP_MAIN');
        wp_clean_plugins_cache(false);
        $plugins = get_plugins();
        if (!isset($plugins[$main])) {
            $say(['error' => "WordPress does not see the plugin $main"], 1);
        }
        if ($activate && !is_plugin_active($main)) {
            $result = activate_plugin($main);  // runs the plugin's own activation
            if (is_wp_error($result)) {
                $say(['error' => $result->get_error_message()], 1);
            }
        }
        $say(['version' => $plugins[$main]['Version'], 'active' => is_plugin_active($main)]);
    }
    $theme = wp_get_theme($slug);
    if (!$theme->exists()) {
        $say(['error' => "WordPress does not see the theme $slug"], 1);
    }
    if ($activate && get_stylesheet() !== $slug) {
        switch_theme($slug);
    }
    $say(['version' => $theme->get('Version'), 'active' => get_stylesheet() === $slug]);
} catch (Throwable $e) {
    $say(['error' => get_class($e) . ': ' . $e->getMessage()], 1);
}
