<?php
// govhost (cms): a copied WordPress database made the site's own, run as the site's user once its
// database came from another site (a staging copy made from live, or a staging copy pushed to
// live): `php wp-stage.php rewrite` puts the site's own URL where the other's was (serialized
// values unserialized, changed and serialized again, as a search-replace must) and sets
// blog_public, and with GOVHOST_WP_OWNER gives posts whose author is not a user here to that
// login (a push keeps the live site's users); `php wp-stage.php info` prints the site's blog_public
// and version; `php wp-stage.php login` (a staging copy) locks out every copied user (a random
// password nobody knows, sessions and application passwords gone) and makes the copy's own
// administrator GOVHOST_WP_ADMIN with the panel's one-time password GOVHOST_WP_PASSWORD. Input
// from the environment (GOVHOST_WP_CONFIG, _HOST, _URL, _FROM_URL, _PUBLIC, _OWNER, _ADMIN,
// _PASSWORD, _EMAIL); prints one JSON line and never a password.
$env = function ($k) { return (string) getenv($k); };
$_SERVER['WORDPRESS_CONFIG'] = $env('GOVHOST_WP_CONFIG');
$_SERVER['HTTP_HOST'] = $_SERVER['SERVER_NAME'] = $env('GOVHOST_WP_HOST');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
if (strpos($env('GOVHOST_WP_URL'), 'https://') === 0) {
    $_SERVER['HTTPS'] = 'on';
}
$mode = $argv[1] ?? '';
$url = '#^https?://[a-z0-9.-]+$#';
if (!in_array($mode, ['info', 'rewrite', 'login'], true) || !preg_match($url, $env('GOVHOST_WP_URL'))
    || ($mode === 'rewrite' && (!preg_match($url, $env('GOVHOST_WP_FROM_URL'))
                                || !in_array($env('GOVHOST_WP_PUBLIC'), ['0', '1'], true)))) {
    fwrite(STDERR, "usage: GOVHOST_WP_CONFIG=.. GOVHOST_WP_URL=.. [GOVHOST_WP_FROM_URL=.. GOVHOST_WP_PUBLIC=0|1] php wp-stage.php info|rewrite\n");
    exit(2);
}

// "//old.name" -> "//new.name": every URL of the other site, http or https, absolute or not.
function govhost_replace($value, string $from, string $to, int &$n)
{
    if (is_string($value)) {
        $count = 0;
        $value = str_replace($from, $to, $value, $count);
        $n += $count;
    } elseif (is_array($value)) {
        foreach ($value as $k => $v) {
            $value[$k] = govhost_replace($v, $from, $to, $n);
        }
    } elseif (is_object($value) && !($value instanceof __PHP_Incomplete_Class)) {
        foreach (get_object_vars($value) as $k => $v) {
            $value->$k = govhost_replace($v, $from, $to, $n);
        }
    }
    return $value;
}

try {
    require '/usr/share/wordpress/wp-load.php';
    if ($mode === 'info') {
        echo json_encode(['public' => (string) get_option('blog_public', '1'), 'version' => $GLOBALS['wp_version']]), "\n";
        exit(0);
    }
    if ($mode === 'login') {
        $login = $env('GOVHOST_WP_ADMIN');
        $password = $env('GOVHOST_WP_PASSWORD');
        if (!preg_match('/^[a-z][a-z0-9._-]{2,59}$/', $login) || !preg_match('/^[A-Za-z0-9]{16,128}$/', $password)) {
            echo json_encode(['error' => 'refused administrator login or password']), "\n";
            exit(1);
        }
        $locked = 0;
        foreach (get_users(['fields' => ['ID', 'user_login']]) as $u) {
            if ($u->user_login === $login) {
                continue;
            }
            wp_set_password(wp_generate_password(64, true, true), (int) $u->ID);
            delete_user_meta((int) $u->ID, 'session_tokens');
            delete_user_meta((int) $u->ID, '_application_passwords');
            $locked++;
        }
        $admin = get_user_by('login', $login);
        if ($admin) { // a retried copy: its own administrator again, with the same one-time password
            wp_set_password($password, $admin->ID);
            $admin->set_role('administrator');
        } else {
            // The copied live administrator has the same address: WordPress allows a shared one
            // only to imports.
            define('WP_IMPORTING', true);
            $id = wp_insert_user([
                'user_login' => $login,
                'user_pass' => $password,
                'user_email' => $env('GOVHOST_WP_EMAIL'),
                'role' => 'administrator',
            ]);
            if (is_wp_error($id)) {
                echo json_encode(['error' => 'the staging administrator: ' . $id->get_error_message()]), "\n";
                exit(1);
            }
        }
        echo json_encode(['version' => $GLOBALS['wp_version'], 'locked' => $locked]), "\n";
        exit(0);
    }
    global $wpdb;
    $from = preg_replace('#^https?:#', '', $env('GOVHOST_WP_FROM_URL'));
    $to = preg_replace('#^https?:#', '', $env('GOVHOST_WP_URL'));
    $columns = [
        [$wpdb->posts, 'ID', ['post_content', 'post_excerpt', 'guid']],
        [$wpdb->postmeta, 'meta_id', ['meta_value']],
        [$wpdb->options, 'option_id', ['option_value']],
        [$wpdb->comments, 'comment_ID', ['comment_content', 'comment_author_url']],
        [$wpdb->termmeta, 'meta_id', ['meta_value']],
        [$wpdb->usermeta, 'umeta_id', ['meta_value']],
    ];
    $n = 0;
    foreach ($columns as [$table, $key, $cols]) {
        foreach ($cols as $col) {
            $rows = $wpdb->get_results($wpdb->prepare(
                "SELECT `$key` AS k, `$col` AS v FROM `$table` WHERE `$col` LIKE %s",
                '%' . $wpdb->esc_like($from) . '%'
            ));
            foreach ($rows as $row) {
                $before = $n;
                $data = maybe_unserialize($row->v);
                $data = govhost_replace($data, $from, $to, $n);
                if ($n !== $before) {
                    $wpdb->update($table, [$col => maybe_serialize($data)], [$key => $row->k]);
                }
            }
        }
    }
    update_option('blog_public', $env('GOVHOST_WP_PUBLIC'));
    $owner = $env('GOVHOST_WP_OWNER') !== '' ? get_user_by('login', $env('GOVHOST_WP_OWNER')) : false;
    if ($owner) { // posts written on staging by its own administrator: the live site's administrator's
        $wpdb->query($wpdb->prepare(
            "UPDATE `$wpdb->posts` SET post_author = %d WHERE post_author <> 0 AND post_author NOT IN (SELECT ID FROM `$wpdb->users`)",
            $owner->ID
        ));
    }
    wp_cache_flush();
    echo json_encode(['version' => $GLOBALS['wp_version'], 'replaced' => $n]), "\n";
} catch (Throwable $e) {
    echo json_encode(['error' => get_class($e) . ': ' . $e->getMessage()]), "\n";
    exit(1);
}
