package server

import (
	"fmt"
	"path/filepath"

	"github.com/pushgate/pushgate/imagecdn"
	"github.com/pushgate/pushgate/imagejobs"
	"github.com/pushgate/pushgate/inbox"
)

// The image jobs put inbox notifications' images on the CDN too.
var _ inbox.Images = (*imagejobs.Service)(nil)

// buildImages opens the CDN's image folder and builds the image jobs that
// fill it; workers run them once buildDelivery registers them, and the
// inbox (buildRealtime) asks them for notifications' images.
func (s *Server) buildImages() error {
	cfg := s.cfg
	dir := cfg.ImagesDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "images")
	}
	store, err := imagecdn.NewDirStore(dir)
	if err != nil {
		return fmt.Errorf("images_dir: %w", err)
	}
	s.images = imagejobs.New(imagejobs.Options{
		Queue:    s.Queue,
		Metrics:  s.metrics.images,
		Contexts: s.DB.Buckets(),
		Store:    store,
		Processor: imagecdn.Options{
			Fetch:       imagecdn.FetchOptions{Guard: s.guard, RevalidateAfter: cfg.ImageRevalidateAfter, Cache: s.DB.ImageSources()},
			Limits:      imagecdn.Limits{MaxBytes: cfg.ImageMaxBytes, MaxPixels: cfg.ImageMaxPixels},
			Concurrency: cfg.ImageConcurrency,
			Logger:      s.log,
		},
		// Known once Start listens: the processor is made on first use.
		PublicURL: s.URL,
		Sources:   s.DB.ImageSources(),
		Logger:    s.log,
		Now:       s.now,
	})
	return nil
}
