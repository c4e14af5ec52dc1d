"""mail moves

Revision ID: a7c41e9d2b10
Revises: 9152235c93c3
Create Date: 2026-12-07 09:15:00.000000
"""
from alembic import op
import sqlalchemy as sa
import panel.db


revision = 'a7c41e9d2b10'
down_revision = '9152235c93c3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mail_moves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('from_host_id', sa.Integer(), nullable=False),
    sa.Column('to_host_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('COPYING', 'SWITCHING', 'CLEANING', 'DONE', 'FAILED', name='mailmovestatus', native_enum=False, length=12), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('dns_job_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_by_name', sa.String(length=64), nullable=False),
    sa.Column('created_at', panel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', panel.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['dns_job_id'], ['jobs.id'], name=op.f('fk_mail_moves_dns_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['domain_id'], ['mail_domains.id'], name=op.f('fk_mail_moves_domain_id_mail_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_host_id'], ['hosts.id'], name=op.f('fk_mail_moves_from_host_id_hosts')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_mail_moves_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_mail_moves_org_id_organizations')),
    sa.ForeignKeyConstraint(['to_host_id'], ['hosts.id'], name=op.f('fk_mail_moves_to_host_id_hosts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_moves'))
    )
    with op.batch_alter_table('mail_moves', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_moves_dns_job_id'), ['dns_job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_moves_domain_id'), ['domain_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_moves_from_host_id'), ['from_host_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_moves_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_moves_to_host_id'), ['to_host_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mail_moves', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_moves_to_host_id'))
        batch_op.drop_index(batch_op.f('ix_mail_moves_org_id'))
        batch_op.drop_index(batch_op.f('ix_mail_moves_from_host_id'))
        batch_op.drop_index(batch_op.f('ix_mail_moves_domain_id'))
        batch_op.drop_index(batch_op.f('ix_mail_moves_dns_job_id'))

    op.drop_table('mail_moves')
