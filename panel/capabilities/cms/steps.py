"""Plain-language job steps of the WordPress playbook: the step of each task or play name.

Registered by the manifest (steps=); panel.services.job_steps explains what steps are for."""

from __future__ import annotations

from panel.services.job_steps import N_

WORDPRESS = N_("Installing WordPress")
ITEMS = N_("Installing plugins and themes from the catalogue")
SNAPSHOT = N_("Snapshot before the update")
UPDATE = N_("Updating plugins and themes")
PROBE = N_("Checking the site answers")
ROLLBACK = N_("Rolling back to the snapshot")
STATE = N_("Suspending or unsuspending WordPress")
ARCHIVE = N_("Archiving WordPress (files and database dump)")
APPS = N_("Setting the app password")
HARDENING = N_("Checking the WordPress hardening")
REPAIR = N_("Putting the WordPress hardening back")
PUSH = N_("Pushing the staging copy to live (snapshot first, rolled back on failure)")

STEPS: dict[str, tuple[str, ...]] = {
    WORDPRESS: (
        "WordPress instance",
        "Is WordPress installed (Debian package wordpress)",
        "Stop when the host has no WordPress code",
        "The directories of govhost's WordPress scripts and of the language packs' zips",
        "The govhost WordPress scripts (install, cron, database copy, URL rewrite, language pack)",
        "The language packs of sites asked for in another language than English, from the catalogue",
        "Each site's wp-content, config (readable only by its user), install as its user and WP-cron",
        "Hardening the config cannot set (version hidden, user enumeration blocked)",
        "The must-use folder of each site, for the hardening plugin",
        "The hardening plugin of each site",
        "Publish what the panel records (per instance id, version or error)",
        "Stop when a site's WordPress could not be installed",
    ),
    HARDENING: (
        "WordPress hardening check",
        "The sites' checklists",
        "The directory of govhost's WordPress scripts, for the check",
        "The hardening check script",
        "Every site's checklist, as a visitor meets it and on disk",
        "Publish every site's items for the panel",
    ),
    REPAIR: (
        "WordPress hardening put back (a repair only)",
        "The configs and the hardening plugin",
        "The sites' vhosts rendered again (one nginx -t, one reload)",
        "Give nginx's reload its moment before the check (it is asynchronous)",
        "The directory of govhost's WordPress scripts, for the repair",
        "The hardening repair script",
        "Every site's config hardened again (file editing and installing off, readable by its user only)",
        "The hardening plugin (version hidden, user enumeration blocked)",
        "Publish what was put back, per site",
    ),
    STATE: (
        "WordPress instance suspended or back",
        "WP-cron of the instance",
        "WP-cron of a suspended site stopped",
        "WP-cron of the site back",
        "WP-cron of the site by the system's cron, as its user",
    ),
    ARCHIVE: (
        "WordPress instance archived",
        "WordPress archived and removed from the site",
        "The site served as a plain site again",
        "The paths of the site to archive",
        "WP-cron of the site stopped",
        "The archive folder and a fresh staging folder, root's only",
        "The directory of govhost's WordPress scripts, for the dump",
        "The govhost script that dumps a site's database",
        "What the site has (config, wp-content)",
        "The site's database dumped (with its own credentials, which stay on the host)",
        "Stop when the database could not be dumped",
        "The site's wp-content and database dump in one archive, root's only",
        "The archive in place (written whole first)",
        "The site's wp-content, config and the staging folder removed",
        "Publish the archive's path for the panel",
    ),
    APPS: (
        "WordPress app password",
        "The app password on the site",
        "The directory of govhost's WordPress scripts, for app passwords",
        "The govhost script for app passwords",
        "The app password issued or revoked, as the site's user",
        "What WordPress said of the app password",
        "Stop when the app password could not be set",
        "Publish the app password's id for the panel",
    ),
    PUSH: (
        "WordPress staging pushed to live",
        "The push",
        "The directories of govhost's WordPress scripts and of the push snapshots",
        "The govhost scripts for a push (database copy, URL rewrite, health probe, push)",
        "The must-use folder of the live site",
        "The health marker of the live site (a must-use plugin, root's)",
        "Probe, snapshot, push and probe the live site (rolled back to the snapshot when the probe fails)",
        "What the push said",
        "Publish the push's result for the panel",
        "Stop when the push did not go through",
    ),
    ITEMS: (
        "WordPress catalogue items",
        "Catalogue items on the sites",
        "The directories of govhost's WordPress scripts and of the catalogue's zips",
        "The govhost scripts for catalogue items (unpack, activate)",
        "The catalogue's zips, copied from the panel",
        "Each item unpacked into its site's wp-content as the site's user (sha256 checked)",
        "Each item activated and read back as WordPress sees it, as the site's user",
        "What WordPress said of each item",
        "Publish what the panel records (per instance and slug)",
    ),
    UPDATE: (
        "WordPress mass update",
        "The sites' updates",
        "The directories of govhost's WordPress scripts, the catalogue's zips and the snapshots",
        "The govhost scripts for updates (unpack, read back, database snapshot, health probe)",
        "The catalogue's zips of the new versions, copied from the panel",
        "The must-use folder of each site",
        "The health marker of each site (a must-use plugin, root's)",
        "Each site's update",
        "Publish every site's result for the panel",
        "The site's paths",
        "Snapshot, update and probe (rolled back when the probe fails)",
        "From here on the site is changed",
        "The new version unpacked as the site's user (sha256 checked)",
        "The version WordPress now reports, as the site's user",
        "What WordPress said of the new version",
        "The site is updated",
        "Why the update failed",
        "A failure before anything changed leaves the site as it was",
    ),
    SNAPSHOT: (
        "The site's snapshot folder (the latest only), root's",
        "Snapshot of the site's files (wp-content without uploads)",
        "Snapshot of the site's database (dumped with its own credentials, which stay on the host)",
    ),
    PROBE: (
        "The site answers before its update (HTTP 200 and the health marker)",
        "A site that did not answer well before is left as it is",
        "The site answers after its update (HTTP 200 and the health marker)",
        "The site answers after the rollback",
        "PHP's code cache sees the new files (it looks again after opcache.revalidate_freq)",
        "PHP's code cache sees the restored files",
    ),
    ROLLBACK: (
        "Rollback to the snapshot",
        "The snapshot's copy of the item put back",
        "The site's database restored from its snapshot",
        "The site is rolled back",
        "The rollback failed",
    ),
}
