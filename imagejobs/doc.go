// Package imagejobs puts the images of notification contexts on pushgate's
// CDN through the work queue: the API enqueues one task per context
// (ProcessContext), a worker runs it (ProcessTask: every image of the
// context through an imagecdn.Processor, then the context becomes Ready
// with its variants' URLs, or Failed with the reason), and two maintenance
// jobs keep it whole: Recovery enqueues again contexts whose task Redis
// lost, SourceExpiry forgets what image URLs returned a month ago. The
// Deliverer asks it, as a delivery.ImageJobs, to make sure a context whose
// messages wait for their images is being processed. It also makes, in
// the call rather than as a task, the image of an inbox notification
// (NotificationImage, the inbox.Images the notifications API waits on),
// and takes uploads.
//
// It sits above both imagecdn and delivery rather than in imagecdn:
// imagecdn imports only the root package, the standard library and its
// image libraries, so it stays usable alone and knows no queue, no
// contexts and no storage. This package imports imagecdn, contexts,
// delivery (the Queue, its queue names and maintenance Jobs) and asynq;
// delivery only declares the interface it asks, so the arrows keep
// pointing one way: server → imagejobs → delivery, imagecdn.
//
// Time is read from Options.Now, the clock the rest of pushgate injects;
// the Processor's fetcher is given the same clock.
package imagejobs
