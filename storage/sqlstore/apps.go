package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
)

// AppStore implements apps.Store.
type AppStore struct{ db *DB }

var _ apps.Store = (*AppStore)(nil)

// Apps returns the app store of db.
func (db *DB) Apps() *AppStore { return &AppStore{db: db} }

const appColumns = `id, name, public_key, secret_sealed, created_at`

// appSelect is what a read of an app selects: its columns and its
// connection settings.
const appSelect = appColumns + `, connect_auth_url, allowed_origins, client_events, compat_keep_offline, channel_webhook_url, subscription_count`

func scanApp(row interface{ Scan(...any) error }) (*apps.App, error) {
	var a apps.App
	var origins string
	if err := row.Scan(&a.ID, &a.Name, &a.Key, &a.SealedSecret, &a.CreatedAt, &a.ConnectAuthURL, &origins, &a.ClientEvents, &a.CompatKeepOffline,
		&a.ChannelWebhookURL, &a.SubscriptionCount); err != nil {
		return nil, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(origins), &a.AllowedOrigins); err != nil {
		return nil, fmt.Errorf("app %s: allowed_origins: %w", a.ID, err)
	}
	if a.AllowedOrigins == nil {
		a.AllowedOrigins = []string{}
	}
	return &a, nil
}

// SetAppSettings stores the app's connection settings.
func (s *AppStore) SetAppSettings(ctx context.Context, id string, set apps.Settings) error {
	origins := set.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	raw, err := json.Marshal(origins)
	if err != nil {
		return err
	}
	res, err := s.db.exec(ctx, s.db, `UPDATE apps SET connect_auth_url = ?, allowed_origins = ?, client_events = ?, compat_keep_offline = ?,
		channel_webhook_url = ?, subscription_count = ? WHERE id = ?`,
		set.ConnectAuthURL, string(raw), set.ClientEvents, set.CompatKeepOffline, set.ChannelWebhookURL, set.SubscriptionCount, id)
	if err != nil {
		return err
	}
	return mustAffect(res, "app")
}

func (s *AppStore) insertApp(ctx context.Context, tx *sql.Tx, a *apps.App, k *apps.APIKey) error {
	if _, err := s.db.exec(ctx, tx, `INSERT INTO apps (`+appColumns+`) VALUES (?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.Key, a.SealedSecret, a.CreatedAt); err != nil {
		if isUniqueViolation(err) {
			return pushgate.Errorf(pushgate.ECONFLICT, "an app with that id or key exists")
		}
		return err
	}
	if k != nil {
		return s.insertKey(ctx, tx, k)
	}
	return nil
}

func (s *AppStore) insertKey(ctx context.Context, q querier, k *apps.APIKey) error {
	_, err := s.db.exec(ctx, q, `INSERT INTO api_keys (id, app_id, name, prefix, role, hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.AppID, k.Name, k.Prefix, string(k.Role), k.Hash, k.CreatedAt)
	return err
}

func (s *AppStore) CreateApp(ctx context.Context, a *apps.App, k *apps.APIKey) error {
	return s.db.inTx(ctx, func(tx *sql.Tx) error { return s.insertApp(ctx, tx, a, k) })
}

// errNotFirst rolls back CreateFirst when another process got there first.
var errNotFirst = errors.New("first app exists")

func (s *AppStore) CreateFirst(ctx context.Context, a *apps.App, k *apps.APIKey) (bool, error) {
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		// The primary key on settings.name makes this the one winner among
		// concurrent first starts, on both dialects.
		res, err := s.db.exec(ctx, tx, `INSERT INTO settings (name, value, updated_at) VALUES ('first_app', ?, ?) ON CONFLICT (name) DO NOTHING`,
			a.ID, s.db.now().UTC())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errNotFirst
		}
		return s.insertApp(ctx, tx, a, k)
	})
	if errors.Is(err, errNotFirst) {
		return false, nil
	}
	return err == nil, err
}

func (s *AppStore) GetApp(ctx context.Context, id string) (*apps.App, error) {
	a, err := scanApp(s.db.queryRow(ctx, s.db, `SELECT `+appSelect+` FROM apps WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pushgate.NotFound("app")
	}
	return a, err
}

func (s *AppStore) GetAppByKey(ctx context.Context, publicKey string) (*apps.App, error) {
	a, err := scanApp(s.db.queryRow(ctx, s.db, `SELECT `+appSelect+` FROM apps WHERE public_key = ?`, publicKey))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pushgate.NotFound("app")
	}
	return a, err
}

func (s *AppStore) ListApps(ctx context.Context) ([]*apps.App, error) {
	rows, err := s.db.query(ctx, s.db, `SELECT `+appSelect+` FROM apps ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanApp)
}

func (s *AppStore) SetAppSecret(ctx context.Context, id, sealed string) error {
	res, err := s.db.exec(ctx, s.db, `UPDATE apps SET secret_sealed = ? WHERE id = ?`, sealed, id)
	if err != nil {
		return err
	}
	return mustAffect(res, "app")
}

// advanceEpoch moves the auth epoch on. On PostgreSQL it also locks the
// epoch's one row until the transaction ends, which serialises every
// transaction that calls it, of every app: callers do it last, so that the
// row is held only for the commit.
func (s *AppStore) advanceEpoch(ctx context.Context, tx *sql.Tx) error {
	_, err := s.db.exec(ctx, tx, `UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1`)
	return err
}

func (s *AppStore) AuthEpoch(ctx context.Context) (int64, error) {
	var e int64
	err := s.db.queryRow(ctx, s.db, `SELECT epoch FROM auth_epoch WHERE id = 1`).Scan(&e)
	return e, err
}

func (s *AppStore) DeleteApp(ctx context.Context, id string) error {
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		// Buckets go by cascade; their messages, which have no foreign
		// key, are deleted here.
		rows, err := s.db.query(ctx, tx, `SELECT id FROM buckets WHERE app_id = ?`, id)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var b string
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := s.db.Buckets().deleteBuckets(ctx, tx, ids); err != nil {
			return err
		}
		res, err := s.db.exec(ctx, tx, `DELETE FROM apps WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if err := mustAffect(res, "app"); err != nil {
			return err
		}
		// Last, so the epoch's row is locked only briefly.
		return s.advanceEpoch(ctx, tx)
	})
}

func (s *AppStore) CreateAPIKey(ctx context.Context, k *apps.APIKey) error {
	err := s.insertKey(ctx, s.db, k)
	if err != nil && (errorsContains(err, "FOREIGN KEY") || errorsContains(err, "SQLSTATE 23503")) {
		return pushgate.NotFound("app")
	}
	return err
}

func (s *AppStore) ListAPIKeys(ctx context.Context, appID string) ([]*apps.APIKey, error) {
	rows, err := s.db.query(ctx, s.db, `SELECT id, app_id, name, prefix, role, hash, created_at FROM api_keys WHERE app_id = ? ORDER BY created_at, id`, appID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*apps.APIKey{}
	for rows.Next() {
		var k apps.APIKey
		if err := rows.Scan(&k.ID, &k.AppID, &k.Name, &k.Prefix, &k.Role, &k.Hash, &k.CreatedAt); err != nil {
			return nil, err
		}
		k.CreatedAt = k.CreatedAt.UTC()
		out = append(out, &k)
	}
	return out, rows.Err()
}

func (s *AppStore) DeleteAPIKey(ctx context.Context, appID, keyID string, allowLastAdmin bool) error {
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		// The app's row is the lock that makes the last-admin check and the
		// delete one step: of two transactions revoking an app's last two
		// admin keys, the second waits here until the first commits, and
		// its count below (a new statement, so a new snapshot under READ
		// COMMITTED) sees that the first key is gone. Other apps' revocations
		// do not wait. SQLite transactions here need no lock: they are
		// IMMEDIATE, so they run one at a time anyway.
		q := `SELECT id FROM apps WHERE id = ?`
		if s.db.Dialect == Postgres {
			q += ` FOR UPDATE`
		}
		var id string
		err := s.db.queryRow(ctx, tx, q, appID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return pushgate.NotFound("API key")
		}
		if err != nil {
			return err
		}
		var role apps.Role
		err = s.db.queryRow(ctx, tx, `SELECT role FROM api_keys WHERE id = ? AND app_id = ?`, keyID, appID).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return pushgate.NotFound("API key")
		}
		if err != nil {
			return err
		}
		if role == apps.RoleAdmin && !allowLastAdmin {
			var admins int
			if err := s.db.queryRow(ctx, tx, `SELECT COUNT(*) FROM api_keys WHERE app_id = ? AND role = ?`, appID, string(apps.RoleAdmin)).Scan(&admins); err != nil {
				return err
			}
			if admins <= 1 {
				return apps.ErrLastAdmin
			}
		}
		res, err := s.db.exec(ctx, tx, `DELETE FROM api_keys WHERE id = ? AND app_id = ?`, keyID, appID)
		if err != nil {
			return err
		}
		if err := mustAffect(res, "API key"); err != nil {
			return err
		}
		// Last, so the epoch's row, which every app's revocations share, is
		// locked only briefly.
		return s.advanceEpoch(ctx, tx)
	})
}

func (s *AppStore) AppByAPIKeyHash(ctx context.Context, hash string) (*apps.App, *apps.APIKey, error) {
	row := s.db.queryRow(ctx, s.db, `SELECT a.id, a.name, a.public_key, a.secret_sealed, a.created_at,
		k.id, k.app_id, k.name, k.prefix, k.role, k.created_at
		FROM api_keys k JOIN apps a ON a.id = k.app_id WHERE k.hash = ?`, hash)
	var a apps.App
	var k apps.APIKey
	err := row.Scan(&a.ID, &a.Name, &a.Key, &a.SealedSecret, &a.CreatedAt,
		&k.ID, &k.AppID, &k.Name, &k.Prefix, &k.Role, &k.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, pushgate.NotFound("API key")
	}
	if err != nil {
		return nil, nil, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	k.CreatedAt = k.CreatedAt.UTC()
	return &a, &k, nil
}
