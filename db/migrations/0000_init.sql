CREATE TABLE "badge_purchases" (
	"id" text PRIMARY KEY NOT NULL,
	"member_id" text NOT NULL,
	"community_id" text NOT NULL,
	"badge_id" text NOT NULL,
	"status" text NOT NULL,
	"transaction_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	CONSTRAINT "badge_purchases_transaction_id_unique" UNIQUE("transaction_id"),
	CONSTRAINT "badge_purchases_status_check" CHECK ("badge_purchases"."status" in ('pending', 'completed'))
);
--> statement-breakpoint
CREATE TABLE "boosts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"community_id" text NOT NULL,
	"member_id" text,
	"months" smallint NOT NULL,
	"source" text NOT NULL,
	"transaction_id" text,
	"amount" text,
	"currency_code" text,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "boosts_transaction_id_unique" UNIQUE("transaction_id"),
	CONSTRAINT "boosts_source_check" CHECK ("boosts"."source" in ('purchase', 'admin')),
	CONSTRAINT "boosts_months_check" CHECK ("boosts"."months" between 1 and 120)
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"key" text PRIMARY KEY NOT NULL,
	"scope" text NOT NULL,
	"request_hash" text NOT NULL,
	"status_code" integer NOT NULL,
	"response" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" text PRIMARY KEY NOT NULL,
	"community_id" text,
	"customer_id" text,
	"status" text NOT NULL,
	"tier" text NOT NULL,
	"current_period_end" timestamp with time zone,
	"grace_until" timestamp with time zone,
	"last_event_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_events" (
	"event_id" text PRIMARY KEY NOT NULL,
	"event_type" text NOT NULL,
	"status" text NOT NULL,
	"occurred_at" timestamp with time zone,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"reason" text,
	"payload" jsonb NOT NULL,
	CONSTRAINT "webhook_events_status_check" CHECK ("webhook_events"."status" in ('processed', 'ignored'))
);
--> statement-breakpoint
CREATE INDEX "badge_purchases_member_badge_idx" ON "badge_purchases" USING btree ("member_id","community_id","badge_id");--> statement-breakpoint
CREATE INDEX "boosts_community_created_idx" ON "boosts" USING btree ("community_id","created_at");--> statement-breakpoint
CREATE INDEX "subscriptions_community_id_idx" ON "subscriptions" USING btree ("community_id");--> statement-breakpoint
CREATE INDEX "webhook_events_received_at_idx" ON "webhook_events" USING btree ("received_at");