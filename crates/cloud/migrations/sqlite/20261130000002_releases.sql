-- Desktop releases the update route offers (issue 5). One row per artifact: a
-- version ships one installer per target, arch and installer kind, each with the
-- minisign signature (contents of the .sig file) the updater verifies against
-- the public key built into the app. The cloud never sees a private key.
CREATE TABLE releases (
    target     TEXT NOT NULL CHECK (target IN ('linux', 'windows', 'darwin')),
    arch       TEXT NOT NULL,
    -- The updater's bundle type: deb, rpm, appimage, nsis, msi, app.
    installer  TEXT NOT NULL,
    version    TEXT NOT NULL,
    url        TEXT NOT NULL,
    signature  TEXT NOT NULL,
    notes      TEXT NOT NULL DEFAULT '',
    -- Epoch milliseconds.
    pub_date   INTEGER NOT NULL,
    PRIMARY KEY (target, arch, installer, version)
);
