<?php
// Managed by govhost (cms): hardening that WordPress's config cannot switch off (docs/cms.md).
// Changes here are reported by the hardening check (cms.hardening_check) and overwritten by govhost.

// Version hidden: no generator tag in pages or feeds, no core version in asset URLs.
remove_action('wp_head', 'wp_generator');
add_filter('the_generator', '__return_empty_string');
foreach (['style_loader_src', 'script_loader_src'] as $govhost_hook) {
    add_filter($govhost_hook, function ($src) {
        return strpos((string) $src, 'ver=' . get_bloginfo('version')) !== false ? remove_query_arg('ver', $src) : $src;
    }, PHP_INT_MAX);
}

// User enumeration blocked for visitors: ?author=N (it redirects to /author/<login>/), the REST
// users routes and the users sitemap. Logged-in users and apps with an application password
// (authenticated before routes are read) keep the REST users routes the editor and apps use.
add_action('template_redirect', function () {
    if (!is_user_logged_in() && isset($_GET['author'])) {
        status_header(404);
        nocache_headers();
        exit;
    }
}, 0);
add_filter('rest_endpoints', function ($endpoints) {
    if (is_user_logged_in()) {
        return $endpoints;
    }
    foreach (array_keys($endpoints) as $route) {
        if (strpos($route, '/wp/v2/users') === 0) {
            unset($endpoints[$route]);
        }
    }
    return $endpoints;
});
add_filter('wp_sitemaps_add_provider', function ($provider, $name) {
    return $name === 'users' ? false : $provider;
}, 10, 2);
