CREATE TABLE "reconcile_state" (
	"name" text PRIMARY KEY NOT NULL,
	"cursor" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lease_owner" text,
	"lease_until" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "boosts" DROP CONSTRAINT "boosts_transaction_id_unique";--> statement-breakpoint
ALTER TABLE "boosts" DROP CONSTRAINT "boosts_months_check";--> statement-breakpoint
ALTER TABLE "webhook_events" DROP CONSTRAINT "webhook_events_status_check";--> statement-breakpoint
ALTER TABLE "subscriptions" ALTER COLUMN "last_event_at" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_events" ALTER COLUMN "processed_at" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "webhook_events" ALTER COLUMN "processed_at" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "badge_purchases" ADD COLUMN "price_id" text;--> statement-breakpoint
ALTER TABLE "boosts" ADD COLUMN "price_id" text;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "last_event_id" text;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "snapshot_status" text;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "payment_status" text;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "payment_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "payment_event_id" text;--> statement-breakpoint
ALTER TABLE "webhook_events" ADD COLUMN "source" text DEFAULT 'webhook' NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_events" ADD COLUMN "attempts" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_events" ADD COLUMN "last_error" text;--> statement-breakpoint
CREATE INDEX "idempotency_keys_created_at_idx" ON "idempotency_keys" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "webhook_events_waiting_idx" ON "webhook_events" USING btree ("status","received_at") WHERE "webhook_events"."status" in ('failed', 'needs_review');--> statement-breakpoint
ALTER TABLE "boosts" ADD CONSTRAINT "boosts_transaction_price_unique" UNIQUE("transaction_id","price_id");--> statement-breakpoint
ALTER TABLE "boosts" ADD CONSTRAINT "boosts_months_check" CHECK ("boosts"."months" between 1 and 1200);--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_payment_status_check" CHECK ("subscriptions"."payment_status" in ('paid', 'failed'));--> statement-breakpoint
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_source_check" CHECK ("webhook_events"."source" in ('webhook', 'replay', 'reconcile'));--> statement-breakpoint
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_status_check" CHECK ("webhook_events"."status" in ('processed', 'ignored', 'needs_review', 'failed'));--> statement-breakpoint
-- Rows written before snapshots and payments were kept apart: their status was the latest snapshot's.
UPDATE "subscriptions" SET "snapshot_status" = "status" WHERE "snapshot_status" IS NULL;
